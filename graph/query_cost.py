"""The query cost rule: how many nodes an operation's connections may return, bounded before it runs.

The depth, alias and token limits bound a document's shape, not its answer: `incidents(first: 100)
{ nodes { alerts(first: 100) { nodes { timeline(first: 100) ... } } } }` is short and shallow, yet asks
for a million rows. Each connection may return `first` nodes (the default page size when omitted) for
every node of the connections around it, so its cost is the product of `first` along its path, and an
operation's cost is the sum over all its connections (GitHub's node limit). Introspection selects no
connection and costs nothing.

The cost depends on the variables, so it is computed per request, after validation (the validation
cache is per document only) and before execution.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

from db.pagination import DEFAULT_PAGE

MAX_QUERY_COST = 10_000


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    """The nodes the operation's connections may return (0 for an operation that cannot be found)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    return _Walk(schema, document, operation, variables or {}).selection_cost(root, operation.selection_set)


class _Walk:
    """One operation's cost. A selection's cost grows linearly with the number of parents it is
    repeated for, so it is computed once per parent (a fragment once per document, memoised: spread
    inside spread would otherwise multiply the work with the document's size)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.defaults = {d.variable.name.value: d.default_value for d in operation.variable_definitions or ()}
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.fragment_costs: dict[str, int] = {}

    def selection_cost(self, parent: GraphQLNamedType, selections: SelectionSetNode) -> int:
        cost = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                cost += self.field_cost(parent, selection)
            elif isinstance(selection, InlineFragmentNode):
                within = (
                    self.type_named(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                if within is not None:
                    cost += self.selection_cost(within, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                cost += self.fragment_cost(selection.name.value)
        return cost

    def field_cost(self, parent: GraphQLNamedType, node: FieldNode) -> int:
        field = getattr(parent, "fields", {}).get(node.name.value)  # introspection fields are not there
        if field is None or node.selection_set is None:
            return 0
        child = get_named_type(field.type)
        inner = self.selection_cost(child, node.selection_set)
        if not _is_connection(child) or "first" not in field.args:
            return inner
        first = self.first_of(node)
        return first + first * inner

    def fragment_cost(self, name: str) -> int:
        if name not in self.fragment_costs:
            self.fragment_costs[name] = 0  # a cycle (refused by validation) costs nothing more
            fragment = self.fragments.get(name)
            within = self.type_named(fragment.type_condition.name.value) if fragment else None
            if fragment is not None and within is not None:
                self.fragment_costs[name] = self.selection_cost(within, fragment.selection_set)
        return self.fragment_costs[name]

    def first_of(self, node: FieldNode) -> int:
        """`first` as given, else the default page size; a value execution will refuse (negative, not
        an integer) counts as the default, its own error comes from the resolver."""
        value: Any = None
        for argument in node.arguments or ():
            if argument.name.value == "first":
                value = self.value_of(argument.value)
        if isinstance(value, bool) or not isinstance(value, int):
            return DEFAULT_PAGE
        return max(value, 0)

    def value_of(self, node: ValueNode | None) -> Any:
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            return self.value_of(self.defaults.get(name))
        return None

    def type_named(self, name: str) -> GraphQLNamedType | None:
        return self.schema.get_type(name)


def _is_connection(named: GraphQLNamedType) -> bool:
    return isinstance(named, GraphQLObjectType) and {"edges", "pageInfo"} <= named.fields.keys()


def too_expensive(cost: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"Query cost {cost} exceeds the limit of {limit}. The cost is the number of nodes the query's"
        f" connections may return: the product of `first` ({DEFAULT_PAGE} when omitted) along each path"
        " of nested connections, summed over all of them. Ask for smaller pages.",
        extensions={"code": "QUERY_TOO_EXPENSIVE", "cost": cost, "limit": limit},
    )


class QueryCostLimiter(SchemaExtension):
    """Refuse an operation whose cost exceeds `max_cost`, with the cost and the limit, before it runs.

    Listed after ValidationCache: a document that failed validation keeps its own errors.
    """

    def __init__(self, max_cost: int = MAX_QUERY_COST) -> None:
        super().__init__()
        self.max_cost = max_cost

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if not ctx.pre_execution_errors and ctx.graphql_document is not None:
            cost = query_cost(ctx.schema._schema, ctx.graphql_document, ctx.operation_name, ctx.variables)
            if cost > self.max_cost:
                ctx.pre_execution_errors = [too_expensive(cost, self.max_cost)]
        yield
