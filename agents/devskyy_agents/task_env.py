"""The environment a task pod runs in: variable names, mount paths, defaults.

The operator's Job builder sets these, the entrypoint and `RunContext` read
them; both import this module (the lower layer), so a renamed variable or a
moved path cannot leave one side behind. The Job carries only what differs per
task or from the defaults below: each variable is stored in the Job and in its
pod, with managedFields, and sent to every watcher of both.
"""

from __future__ import annotations

# --- variables
TASK_ID = "DEVSKYY_TASK_ID"  # the task id (a DNS-1123 label); required
TASK_TYPE = "DEVSKYY_TASK_TYPE"
TASK_SPEC = "DEVSKYY_TASK_SPEC"  # the CR spec as compact JSON, or
TASK_SPEC_FILE = "DEVSKYY_TASK_SPEC_FILE"  # a file holding it (default SPEC_FILE_PATH)
TASK_DEADLINE = "DEVSKYY_TASK_DEADLINE"  # unix epoch seconds the task must finish by
TASK_RETRIES = "DEVSKYY_TASK_RETRIES"  # the Job's backoffLimit: is there another attempt?
TERMINATION_LOG = "DEVSKYY_TERMINATION_LOG"  # where the result goes (max 4096 bytes)
ARTIFACTS_DIR = "DEVSKYY_ARTIFACTS_DIR"  # results too large for the termination message
# "true" when the artifacts volume is a claim, so <dir>/<task id>/ and its ledger
# outlive the pod; anything else: an emptyDir, a retry starts over.
ARTIFACTS_PERSISTENT = "DEVSKYY_ARTIFACTS_PERSISTENT"
DATASETS_DIR = "DEVSKYY_DATASETS_DIR"
MODELS_DIR = "DEVSKYY_MODELS_DIR"
LOG_FORMAT = "LOG_FORMAT"  # "text" (the seed's line format, the default) or "json"
DEFAULT_LOG_FORMAT = "text"
WORKER_THREADS = "WORKER_THREADS"  # threads the task may use (the seed's name)
# ... and the native thread pools (OpenMP, BLAS) start at that size: the
# entrypoint sets them from WORKER_THREADS before any of those libraries loads.
NATIVE_THREAD_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# --- paths in the pod (the defaults of the variables above)
TERMINATION_LOG_PATH = "/dev/termination-log"
ARTIFACTS_PATH = "/data/artifacts"
DATASETS_PATH = "/data/datasets"
MODELS_PATH = "/data/models"
# The spec arrives as a file: a downward-API volume projects a pod-template annotation.
SPEC_DIR_PATH = "/data/task"
SPEC_FILE_NAME = "spec.json"
SPEC_FILE_PATH = f"{SPEC_DIR_PATH}/{SPEC_FILE_NAME}"
