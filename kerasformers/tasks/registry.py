"""The one registry of tasks: the CLI, the run folders and the exports look tasks up here.

A task module registers its `kerasformers.tasks.Task` subclass with
`@register`; `kerasformers/tasks/__init__.py` imports the built-in task
modules, so `import kerasformers.tasks` fills the registry.
"""

_REGISTRY = {}


def register(task):
    """Registers a `Task` subclass (or instance) under its `name`; returns it unchanged (usable as a decorator).

    Raises:
        ValueError: no `name`, or another task already has the name.
    """
    instance = task() if isinstance(task, type) else task
    if not getattr(instance, "name", None) or not callable(getattr(instance, "load_data", None)):
        raise ValueError(f"register() needs a Task subclass with a `name`. Received: {task!r}")
    for key in (instance.name, *instance.aliases):
        other = _REGISTRY.get(key)
        if other is not None and type(other) is not type(instance):
            raise ValueError(f"The task name {key!r} is taken by {type(other).__name__}.")
        _REGISTRY[key] = instance
    return task


def unregister(name):
    """Removes a task (and its aliases) from the registry (tests register tasks of their own)."""
    task = get_task(name)
    for key in [k for k, v in _REGISTRY.items() if v is task]:
        del _REGISTRY[key]


def get_task(name):
    """The registered task named `name` (or one of its aliases).

    Raises:
        ValueError: no such task (the message lists the known ones).
    """
    if not isinstance(name, str):
        return name  # already a task
    task = _REGISTRY.get(name)
    if task is None:
        raise ValueError(f"Unknown task {name!r}. Known tasks: {', '.join(task_names())}")
    return task


def all_tasks():
    """The registered tasks, each once, in registration order."""
    seen = []
    for task in _REGISTRY.values():
        if task not in seen:
            seen.append(task)
    return seen


def task_names():
    return [task.name for task in all_tasks()]
