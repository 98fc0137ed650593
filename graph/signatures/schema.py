"""The signature area: a company's alias groups (`signatureAliases`, `signatureAliasCreate`,
`signatureAliasDelete`), merged into the schema's Query and Mutation.

Correlation keys alerts by their canonical signature (`domain.signatures`): case, separators,
camelCase and the asset's own name are folded away, and a built-in set names the common problems
across the ten tools. An alias group adds a company's own: "these signatures are one problem".
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from domain.errors import DomainError
from domain.signatures import alias_group
from graph.core import (
    AFTER_DESCRIPTION,
    FIRST_DESCRIPTION,
    INPUT_DESCRIPTION,
    USER_ERRORS_DESCRIPTION,
    Connection,
    connection,
    from_global_id,
    mutate,
    require_principal,
    to_global_id,
    user_error,
)
from graph.enums import SignatureAliasErrorCode
from graph.incidents.loaders import loaders_for
from graph.incidents.queries import COMPANY_ID_DESCRIPTION, decode_id
from graph.signatures.types import SignatureAlias, signature_alias_type


@strawberry.type(description="Why a signature alias mutation could not be applied; nothing was changed.")
class SignatureAliasError:
    field: str | None = strawberry.field(description="The input field at fault (camelCase path), if any.")
    message: str = strawberry.field(description="Human-readable explanation.")
    code: SignatureAliasErrorCode = strawberry.field(description="Machine-readable reason.")


def _error(exc: DomainError) -> SignatureAliasError:
    error: SignatureAliasError = user_error(exc, SignatureAliasErrorCode, SignatureAliasError)
    return error


@strawberry.input(description="These signatures are one problem.")
class SignatureAliasCreateInput:
    company_id: strawberry.ID = strawberry.field(description="Company global ID.")
    signatures: list[str] = strawberry.field(
        description="The signatures, as the tools send them (1 to 50, each at most 200 characters; folded "
        "like any signature, so `DiskFull` also stands for `disk_full` and `Disk full`)."
    )
    canonical: str | None = strawberry.field(
        default=None,
        description="What to call the problem (folded); omit to use the first signature. A built-in "
        "problem's name (e.g. `disk full`) joins the group to it.",
    )


@strawberry.type(description="Result of `signatureAliasCreate`.")
class SignatureAliasCreatePayload:
    signature_alias: SignatureAlias | None = strawberry.field(default=None, description="The new group.")
    user_errors: list[SignatureAliasError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


@strawberry.input(description="The alias group to delete.")
class SignatureAliasDeleteInput:
    id: strawberry.ID = strawberry.field(description="Signature alias global ID.")


@strawberry.type(description="Result of `signatureAliasDelete`.")
class SignatureAliasDeletePayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="Global ID of the deleted group."
    )
    user_errors: list[SignatureAliasError] = strawberry.field(description=USER_ERRORS_DESCRIPTION)


async def signature_alias_create(
    info: strawberry.Info,
    input: Annotated[SignatureAliasCreateInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> SignatureAliasCreatePayload:
    async def work(uow: Any) -> dict[str, Any]:
        company_id = from_global_id(input.company_id, "Company", field="companyId")
        group = alias_group(input.signatures, input.canonical)
        row = await uow.signature_aliases.create(company_id, group)
        return {"signature_alias": signature_alias_type(row)}

    return await mutate(info, work, SignatureAliasCreatePayload, _error)


async def signature_alias_delete(
    info: strawberry.Info,
    input: Annotated[SignatureAliasDeleteInput, strawberry.argument(description=INPUT_DESCRIPTION)],
) -> SignatureAliasDeletePayload:
    async def work(uow: Any) -> dict[str, Any]:
        row = await uow.signature_aliases.delete(from_global_id(input.id, "SignatureAlias"))
        return {"deleted_id": to_global_id("SignatureAlias", row.id)}

    return await mutate(info, work, SignatureAliasDeletePayload, _error)


async def signature_aliases(
    info: strawberry.Info,
    company_id: Annotated[
        strawberry.ID | None, strawberry.argument(description=COMPANY_ID_DESCRIPTION)
    ] = None,
    first: Annotated[int | None, strawberry.argument(description=FIRST_DESCRIPTION)] = None,
    after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
) -> Connection[SignatureAlias]:
    require_principal(info)
    company, unknown = decode_id(company_id, "Company")
    loaders = await loaders_for(info)
    page = await loaders.uow.signature_aliases.page(
        company, unknown_company=unknown, first=first, after=after
    )
    return connection(page, lambda row: signature_alias_type(row, loaders))


@strawberry.type
class SignatureQuery:
    signature_aliases: Connection[SignatureAlias] = strawberry.field(
        resolver=signature_aliases,
        description="Signature alias groups you may see, newest first (a company's, or every company's you "
        "may see).",
    )


@strawberry.type
class SignatureMutation:
    signature_alias_create: SignatureAliasCreatePayload = strawberry.mutation(
        resolver=signature_alias_create,
        description="Say that some signatures are one problem (company and MSP admins): their alerts on one "
        "asset become one incident. The company's open incidents are re-keyed at once.",
    )
    signature_alias_delete: SignatureAliasDeletePayload = strawberry.mutation(
        resolver=signature_alias_delete,
        description="Delete an alias group (company and MSP admins); its signatures fold as before it.",
    )
