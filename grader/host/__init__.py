"""The sandbox seen from the grader: isolation levels (bwrap, uid, process), Landlock, memory cgroups,
process trees, the watch on a running child, the channel that validates every frame once, and the
JAX compilation cache the executor reads. Nothing here imports JAX or runs submission code."""
