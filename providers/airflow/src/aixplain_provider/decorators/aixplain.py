"""The ``@task.aixplain_agent`` decorator: a function that builds an agent's query."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import Context
from airflow.sdk.bases.decorator import (
    DecoratedOperator,
    TaskDecorator,
    determine_kwargs,
    task_decorator_factory,
)
from airflow.sdk.definitions.context import context_merge

from aixplain_provider.operators.aixplain import AixplainAgentRunOperator

# Keys a decorated function may return in a dict, besides the query itself.
RUN_PARAM_KEYS = frozenset(
    {"query", "variables", "history", "session_id", "execution_params"}
)


class _AixplainAgentDecoratedOperator(DecoratedOperator, AixplainAgentRunOperator):
    """Run an aiXplain agent on the query that the decorated function returns.

    The function returns the query (a string) or a dict with ``query`` and any of
    ``variables``, ``history``, ``session_id`` and ``execution_params``.

    :param python_callable: the decorated function.
    :param op_args: positional arguments for the function. (templated)
    :param op_kwargs: keyword arguments for the function. (templated)
    """

    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        *AixplainAgentRunOperator.template_fields,
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **AixplainAgentRunOperator.template_fields_renderers,
    }
    custom_operator_name = "@task.aixplain_agent"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )

    def execute(self, context: Context) -> Any:
        """Call the function for the query, then run the agent on it."""
        self._call_function(context)
        return AixplainAgentRunOperator.execute(self, context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Rebuild the query, then resume after the trigger as the operator does."""
        # The operator is a fresh instance after a deferral, so the query that
        # execute() set is gone; the function runs again to rebuild it.
        self._call_function(context)
        return AixplainAgentRunOperator.execute_complete(self, context, event)

    def _call_function(self, context: Context) -> None:
        context_merge(context, self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        self._apply_run_params(self.python_callable(*self.op_args, **kwargs))

    def _apply_run_params(self, returned: Any) -> None:
        if isinstance(returned, str):
            self.query = returned
            return
        if not isinstance(returned, Mapping) or "query" not in returned:
            raise TypeError(
                "a @task.aixplain_agent function must return the query as a string "
                f"or a dict with a 'query' key, got {type(returned).__name__}"
            )
        unknown = set(returned) - RUN_PARAM_KEYS
        if unknown:
            raise TypeError(
                f"unknown run parameter(s) {sorted(unknown)} returned by the "
                f"function; valid keys are {sorted(RUN_PARAM_KEYS)}"
            )
        for key, value in returned.items():
            setattr(self, key, value)


def aixplain_agent_task(
    python_callable: Callable[..., Any] | None = None, **kwargs: Any
) -> TaskDecorator:
    """Wrap a function whose return value is the query of an aiXplain agent run.

    Takes the arguments of :class:`AixplainAgentRunOperator` except ``query``.

    :param python_callable: the function to decorate.
    """
    # The function's return value is the query, not the task's output, so a dict
    # return annotation must not turn on multiple_outputs.
    multiple_outputs = kwargs.pop("multiple_outputs", False)
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=_AixplainAgentDecoratedOperator,
        **kwargs,
    )
