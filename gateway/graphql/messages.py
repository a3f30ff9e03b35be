"""GraphQL errors as callers and the logs see them: a stable code on every one, and no message repeating a value sent.

graphql-core's messages quote what they refuse: a missing required field reports the whole input object
("found: {...}", the victim's name, date of birth and phone with it), a wrong type the value, the parser the token.
Every error is rewritten here before Strawberry returns it and before anything logs it: the rewritten message
names the variable, the path, the field and the type, never a value. As a last guard, a message that still holds
any text the request sent (a string of the variables or of the document's literals) is replaced whole.

Codes (`extensions.code`) are the gateway's one vocabulary, kebab-case like the domain's `ErrorCode`: what the
parser and validator refuse is `validation`, the surface limits keep their own (`query-too-deep`, ...), a refused
rule its domain code, and anything unexpected `internal`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from graphql import (
    DocumentNode,
    EnumValueNode,
    FloatValueNode,
    GraphQLError,
    IntValueNode,
    StringValueNode,
    Visitor,
    visit,
)

from gateway.errors import DomainError

VALIDATION = "validation"
INTERNAL = "internal"
TOO_MANY_TOKENS = "too-many-tokens"
# What replaces a message that would still repeat something the request sent.
GENERIC_MESSAGE = "The request is not valid; check the values sent against the schema."
# Shorter text (a status, a provider's slug) is too common to identify anyone, and would match the schema's words.
MIN_SUBMITTED_LENGTH = 4
# Numbers are checked from this many characters: a phone number sent as a number, not a version or a page size.
MIN_SUBMITTED_NUMBER_LENGTH = 6
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_FOUND = re.compile(r"(?:,|;|\.)? [Ff]ound:? .*\Z", re.S)
_ENCOUNTERED = re.compile(r", but encountered error .*\Z", re.S)
_CANNOT_REPRESENT = re.compile(r"\A(.*?\bcannot represent\b[^:'\"]*?)(?::| ').*\Z", re.S)
_NO_SUCH_ENUM_VALUE = re.compile(r"Value '.*' does not exist in '(\w+)' enum\.", re.S)
_UNKNOWN_FIELD = re.compile(r"unknown field '(.*?)'(?=\.|, found|\Z)", re.S)
_PUNCTUATOR = re.compile(r"'(\.\.\.|[!$&()\[\]{}:=@|])'")
_TOKENS_LIMIT = "Document contains more than"
_SYNTAX = "Syntax Error: "


def public_error(error: GraphQLError, submitted: frozenset[str]) -> GraphQLError:
    """The error with its code and a message naming no value; the original is kept for the server's own log."""
    code = error_code(error)
    message = redacted(error.message)
    if any(value in message for value in submitted):
        message = GENERIC_MESSAGE
    return GraphQLError(
        message,
        error.nodes,
        error.source,
        error.positions,
        error.path,
        error.original_error,
        {**(error.extensions or {}), "code": code},
    )


def error_code(error: GraphQLError) -> str:
    declared = (error.extensions or {}).get("code")
    if isinstance(declared, str):
        return declared
    original = error.original_error
    if isinstance(original, DomainError):
        return original.code.value
    if original is not None and not isinstance(original, GraphQLError) and not getattr(original, "public", False):
        return INTERNAL
    if error.message.startswith(_SYNTAX + _TOKENS_LIMIT):
        return TOO_MANY_TOKENS
    return VALIDATION


def redacted(message: str) -> str:
    """graphql-core's message without the values it quotes (idempotent: a rewritten message is left as it is)."""
    if message.startswith(_SYNTAX):
        return _SYNTAX + _syntax(message.removeprefix(_SYNTAX))
    message = _ENCOUNTERED.sub(".", message)
    message = _FOUND.sub(".", message)
    message = _NO_SUCH_ENUM_VALUE.sub(r"The value does not exist in '\1' enum.", message)
    message = _UNKNOWN_FIELD.sub(_unknown_field, message)
    message = _CANNOT_REPRESENT.sub(r"\1.", message)
    return message.replace("?.", "?").replace("..", ".")


def _unknown_field(found: re.Match[str]) -> str:
    # In a literal the name is the document's own; in the variables it is a key, which may be anything at all.
    name = found[1]
    return f"unknown field '{name}'" if _GRAPHQL_NAME.fullmatch(name) else "an unknown field"


def _syntax(description: str) -> str:
    if description.startswith(_TOKENS_LIMIT):
        return description
    # The parser quotes the token it met ("found String 'Alex'"); a punctuator is the document's grammar.
    description = _PUNCTUATOR.sub(r"\1", description)
    head = re.split(r"[\"']|: ", description, maxsplit=1)[0].rstrip(" ,.")
    return head + "."


def submitted_values(variables: object, document: DocumentNode | None) -> frozenset[str]:
    """Every text of the request's variables and literals long enough to be somebody's detail."""
    found = set(_variable_texts(variables))
    if document is not None:
        found.update(_literal_texts(document))
    return frozenset(
        text
        for text in found
        if len(text) >= (MIN_SUBMITTED_NUMBER_LENGTH if text.lstrip("-").isdigit() else MIN_SUBMITTED_LENGTH)
    )


def _variable_texts(variables: object) -> Iterator[str]:
    pending = [variables]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | float):
            yield str(value)
        elif isinstance(value, dict):
            # A key that could be a field's name is the schema's vocabulary; any other key is the caller's text.
            yield from (key for key in value if isinstance(key, str) and not _GRAPHQL_NAME.fullmatch(key))
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _literal_texts(document: DocumentNode) -> Iterable[str]:
    texts: list[str] = []

    class Literals(Visitor):
        def enter_string_value(self, node: StringValueNode, *_args: object) -> None:
            texts.append(node.value)

        def enter_int_value(self, node: IntValueNode, *_args: object) -> None:
            texts.append(node.value)

        def enter_float_value(self, node: FloatValueNode, *_args: object) -> None:
            texts.append(node.value)

        def enter_enum_value(self, node: EnumValueNode, *_args: object) -> None:
            texts.append(node.value)

    visit(document, Literals())
    return texts
