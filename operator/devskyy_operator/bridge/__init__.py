"""The bridge: moves queued tasks from Redis into DevSkyyTask resources.

Data path: `queue.claim` (lease) -> `creator.create_task` (the CR named by the
task id) -> `store.release_bridged` (lease dropped). `informer` keeps the
window count without listing every cycle, `cancels` executes user cancels,
`sweeper` reconciles Redis with the resources, `main` is the process.
"""
