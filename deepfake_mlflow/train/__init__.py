"""Training internals: balanced and triplet sampling (data), the shared loop (plateau,
stop, best by validation), the bce / triplet / finetune objectives, and the phases of the
protocol as runs. The stage itself (config and run) is deepfake_mlflow.stages.train."""
