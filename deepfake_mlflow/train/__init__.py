"""Training as one capability: from a TrainConfig to MLflow runs holding the model.

Read in this order to follow a training from the command line to the loop:
- config.py   TrainConfig: every option, checked once (the augmentation spec too);
- reuse.py    train_or_reuse: a study's way in (the same training is never run twice);
- phases.py   train(cfg): the protocol's phases (bce; triplet -> finetune) as runs,
              resuming; each phase prepared (data, model), then run (logs, loop, model);
- runtime.py  Runtime: device, precision, processes, resolved once before any run;
- loop.py     fit(): the loop every phase shares, top to bottom;
- data.py, objectives.py, schedule.py: balanced and triplet batches, the losses, the
  plateau rule.
The train stage (deepfake_mlflow.stages.train) is the command line's door to train().
Nothing is imported here: TrainConfig is imported from train.config, where it lives.
"""
