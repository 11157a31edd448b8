"""The protocol's numbers, in one place.

Every number the paper (Bondi et al., WIFS 2020) or ../shared/DESIGN.md fixes lives here;
modules import it from here instead of repeating literals, so a change is made once.
"""

from __future__ import annotations

# --- Faces -----------------------------------------------------------------------------
FRAMES_PER_VIDEO = 32  # uniformly spaced over the whole video
FACE_SIZE = 256  # square crop resized to FACE_SIZE x FACE_SIZE

# --- Splits ----------------------------------------------------------------------------
SPLITS = ("train", "val", "test")
DEFAULT_SEED = 0
# seeds reach numpy, torch and the data loader's workers, which take 32 bits: a larger seed
# would wrap around onto a smaller one (2**32 trains as 0) or overflow inside training
SEED_MAX = 2**32 - 1

# FF++ (DF) and DFD: 720/140/140 of 1000 source videos, as proportions for other sizes.
FF_SPLIT_COUNTS = {"train": 720, "val": 140, "test": 140}
FF_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
FF_ORIGINAL_SUBSET = "youtube"
DFD_ORIGINAL_SUBSET = "actors"
DFD_METHOD = "DeepFakeDetection"
DEFAULT_COMPRESSION = "c23"  # the paper uses H.264 at CRF 23 only
COMPRESSIONS = ("raw", "c23", "c40")

# DFDC: 50 parts; the paper tests on 40-49 and validates on 35-39.
DFDC_NUM_PARTS = 50
DFDC_TEST_PARTS = range(40, 50)
DFDC_VAL_PARTS = range(35, 40)

# Celeb-DF v2: the shipped test list is the test set; a seeded 15% of the rest is validation.
CELEBDF_VAL_FRACTION = 0.15
CELEBDF_TEST_LIST = "List_of_testing_videos.txt"
CELEBDF_SUBSETS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}
# In List_of_testing_videos.txt the first column is 1 for a REAL video and 0 for a fake,
# the reverse of this project's label (1 = fake).
CELEBDF_LIST_REAL_MARK = 1

# Any real/ + fake/ folder: seeded 70/15/15 unless a split CSV is given.
FOLDER_SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")

# --- Labels ----------------------------------------------------------------------------
REAL, FAKE = 0, 1
ORIGINAL_METHOD = "original"

# --- Video encoding (demo corpus) ------------------------------------------------------
VIDEO_CODEC = "libx264"
VIDEO_CRF = 23  # what FF++ calls c23

# --- BlazeFace models (inside the mediapipe 0.10.21 wheel on PyPI) -----------------------
MEDIAPIPE_MODEL_WHEEL = "mediapipe==0.10.21"
BLAZEFACE_MODELS = {
    "short": "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "full": "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
}

# --- Demo corpus -----------------------------------------------------------------------
DEMO_CORPUS_SIZE = 16  # the corpus's scale: about this many real videos per demo dataset
DEMO_FRAMES = 32  # frames per demo video (>= FRAMES_PER_VIDEO, so 32 can be sampled)
# frames per demo *test* video: the protocol's 32 stay the default of `extract`; the demo
# spends its time on more test videos instead (an AUC's interval comes from videos)
DEMO_TEST_FRAMES = 8
DEMO_TEST_VIDEOS = 8  # of each class, at least, in every demo test set (tests/test_corpus.py)
DEMO_FPS = 25

# --- Face extraction -------------------------------------------------------------------
FACE_MARGIN = 0.3  # the square side is (1 + margin) x the longer side of BlazeFace's box
FACE_JPEG_QUALITY = 95
VIDEO_READERS = ("opencv", "pyav")  # decoders of faces.sampling; OpenCV's grab() is fastest
DETECTOR_MODEL = "full"  # chosen by measured recall (README, benchmarks/detector_recall.py)
DETECTOR_MIN_CONFIDENCE = 0.65  # full model: 0.5 fires on 32% of a no-face clip, 0.65 on none
MIN_FACE_SIZE = 16  # smallest crop side accepted (pixels)
MAX_FACE_MARGIN = 3.0  # a larger margin makes crops mostly background
# a video with faces in fewer of its sampled frames is marked few_faces and never scored:
# a stray detection in a faceless clip is not a face video
MIN_FACE_RATIO = 0.25

# --- Training (Sections III-IV of the paper) ----------------------------------------------
MODEL_NAME = "efficientnet_b4"
MIN_INPUT_SIZE = 32  # EfficientNet downsamples 32x: smaller inputs vanish
MAX_ITERS = 1_000_000  # a bound for CPU runs; the protocol stops on MIN_LR
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LR_FACTOR = 0.1  # learning rate x0.1 on a plateau
MIN_LR = 1e-8  # stop when the learning rate falls below this
BCE = {"batch_size": 32, "lr": 1e-4, "patience": 2000}  # balanced: 16 real + 16 fake
TRIPLET = {"batch_size": 10, "lr": 1e-5, "patience": 500}  # 10 triplets, half of each kind
# the classifier alone, BCE, on the bce phase's balanced batches (BCE["batch_size"])
FINETUNE = {"lr": 1e-6, "patience": 100}
TRIPLET_MARGIN = 1.0
VAL_INTERVAL = 100  # iterations between validations
VAL_SIZE = 1024  # validation faces (balanced, fixed, never augmented)
SELECTED_AUGMENTATIONS = ("HF", "BC", "HSV", "JPEG")  # the paper's choice (Section V)

# --- Devices and feeding (deepfake_mlflow.accel) ------------------------------------------
DEVICE = "auto"  # auto | cpu | cuda | cuda:N; auto takes CUDA when present
DEVICE_ENV = "DEEPFAKE_MLFLOW_DEVICE"  # the logged model's device when served
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TRAIN_PRECISION = "auto"  # bf16 on GPUs that compute it natively, fp32 elsewhere
# Scores stay fp32 by default: a video's score must not depend on the machine that scores it
SCORE_PRECISION = "fp32"
SCORE_BATCH = 32  # faces per forward pass when scoring
LOADER_WORKERS = -1  # -1: this process's share of the cores, less one
MAX_LOADER_WORKERS = 16
LOADER_PREFETCH = 4  # batches each worker keeps ready
# metric points go to a local journal first, then to the store at most every N seconds
METRICS_SEND_EVERY_S = 5.0
METRICS_RETRY_EVERY_S = 30.0  # while the store is unreachable
LOSS_FETCH_EVERY = 10  # train_loss is read back from the device every N iterations, not every step

# --- Serving (deepfake_mlflow.serving_policy) ----------------------------------------------
SERVE_MAX_VIDEOS = 16  # videos one request may ask for
SERVE_MAX_SECONDS = 45.0  # within MLflow's 60 s request timeout, so the server answers
SERVE_MAX_VIDEO_BYTES = 256 * 2**20  # a video sent as bytes

# --- Evaluation ---------------------------------------------------------------------------
EVAL_SPLIT = "test"
MDS_PAIRS = 10  # Fig. 2: 10 real/fake video pairs of a test set, every frame a point
# every AUC carries a 95% interval: test videos drawn again with replacement within each
# label (a video's frames together: they are not independent), this many times
BOOTSTRAP_SAMPLES = 1000
INTERVAL_LEVEL = 0.95
INTERVAL_MIN_VIDEOS = 3  # of each class; below, an AUC is printed without an interval
BREAKDOWN_MIN_VIDEOS = 3  # of each class, for a subgroup's AUC (evaluation/breakdown.py)
CALIBRATION_BINS = 10  # equal-width bins of p_fake: the reliability diagram and the ECE
CALIBRATION_MIN_VIDEOS = 10  # of each class, below which a fitted calibration is rough
OPERATING_FPRS = (0.01, 0.05)  # video-level TPR reported at these false positive rates
GALLERY_VIDEOS = 6  # of each kind in an evaluation's error gallery (evaluation/gallery.py)
GALLERY_FRAMES = 6  # evenly spaced faces shown of each gallery video
BOOTSTRAP_BATCH = 50  # resamples scored at once (memory: this many x the test faces)
# BCa corrects the skew of an AUC's bootstrap distribution at the cost of a jackknife (one
# AUC per left-out video): used from BCA_MIN_VIDEOS videos of each class (fewer give too
# few distinct resamples for its bias correction) up to BCA_MAX_VIDEOS videos in all (past
# that the percentile interval is as good and the jackknife is not paid)
BCA_MIN_VIDEOS = 10
BCA_MAX_VIDEOS = 2000
# comparisons of two variants on the same test videos (deepfake_mlflow.evaluation.compare):
# a difference is called at this family-wise error rate, Holm-corrected over a study's tests
TEST_ALPHA = 0.05
# a claim of "no difference" (the paper's "few gains", "barely change") holds when every
# compared difference's 95% interval lies within +-this much frame AUC (an equivalence test)
CLAIM_EQUIVALENCE_MARGIN = 0.05
ROBUSTNESS_JPEG_QUALITIES = (90, 70, 50, 30, 10)  # re-compression of the test faces
ROBUSTNESS_SCALES = (0.75, 0.5, 0.25)  # downscale factor, then back up to the input size

# --- Reporting (figures and the dashboards' report) ---------------------------------------
# the paper's tables list the datasets in this order, with these names (FF++ DF is "DF")
PAPER_DATASET_ORDER = ("celebdf", "ff", "dfd", "dfdc")
DATASET_LABELS = {"celebdf": "CelebDF", "ff": "DF", "dfd": "DFD", "dfdc": "DFDC"}
FIGURE_DPI = 300  # PNGs fit to print; every figure is also written as a PDF
# an AUC below 0.5 ranks real faces above fakes more often than not: its scores point the
# wrong way on that test set (1 - AUC is what the flipped score would give); marked so
BELOW_CHANCE_MARK = "\u2020"  # a dagger, after the value, in tables and heatmaps
FIGURE_COLORMAP = "cividis"  # colour-blind safe, and monotone in lightness when printed grey
UI_URL = "http://127.0.0.1:5000"  # where `make ui` serves the tracking UI: the report links there
UI_URL_ENV = "DEEPFAKE_MLFLOW_UI_URL"  # another host or port, for every report made


def ui_url() -> str:
    """The tracking UI the reports link to: $DEEPFAKE_MLFLOW_UI_URL, else UI_URL."""
    import os
    return os.environ.get(UI_URL_ENV) or UI_URL

# --- Ablation (Optuna) ----------------------------------------------------------------------
ABLATION_SEARCH_TRIALS = 12  # --mode search: trials per study
ABLATION_HEARTBEAT_S = 60  # a trial silent for 3 heartbeats is failed and retried
ABLATION_MAX_RETRY = 2

# --- Registry -----------------------------------------------------------------------------
# deepfake-<architecture>-<training dataset>, e.g. deepfake-effnetb4-dfdc: the name says
# which network it is (timm's name with dashes, unless it has a short name here)
REGISTERED_MODEL_PREFIX = "deepfake-"
ARCHITECTURE_NAMES = {"efficientnet_b4": "effnetb4"}
CHAMPION_ALIAS = "champion"
