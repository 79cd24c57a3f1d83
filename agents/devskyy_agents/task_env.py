"""The environment a task pod runs in: variable names and mount paths.

The operator's Job builder sets these, the entrypoint and `RunContext` read
them; both import this module (the lower layer), so a renamed variable or a
moved path cannot leave one side behind.
"""

from __future__ import annotations

# --- variables
TASK_ID = "DEVSKYY_TASK_ID"  # the task id (a DNS-1123 label); required
TASK_TYPE = "DEVSKYY_TASK_TYPE"
TASK_SPEC = "DEVSKYY_TASK_SPEC"  # the CR spec as compact JSON, or
TASK_SPEC_FILE = "DEVSKYY_TASK_SPEC_FILE"  # a file holding it
TASK_DEADLINE = "DEVSKYY_TASK_DEADLINE"  # unix epoch seconds the task must finish by
TERMINATION_LOG = "DEVSKYY_TERMINATION_LOG"  # where the result goes (max 4096 bytes)
ARTIFACTS_DIR = "DEVSKYY_ARTIFACTS_DIR"  # results too large for the termination message
DATASETS_DIR = "DEVSKYY_DATASETS_DIR"
MODELS_DIR = "DEVSKYY_MODELS_DIR"
LOG_FORMAT = "LOG_FORMAT"  # "text" (the seed's line format) or "json"

# --- paths in the pod (the defaults of the variables above)
TERMINATION_LOG_PATH = "/dev/termination-log"
ARTIFACTS_PATH = "/data/artifacts"
DATASETS_PATH = "/data/datasets"
MODELS_PATH = "/data/models"
# The spec arrives as a file: a downward-API volume projects a pod-template annotation.
SPEC_DIR_PATH = "/data/task"
SPEC_FILE_NAME = "spec.json"
SPEC_FILE_PATH = f"{SPEC_DIR_PATH}/{SPEC_FILE_NAME}"
