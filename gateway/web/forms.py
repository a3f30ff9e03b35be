"""GOV.UK form errors: one message per field, shown at the field and, linked, in the summary at the top."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FormErrors:
    """The errors of one submitted form, in the order the fields appear on the page."""

    _by_field: dict[str, str] = field(default_factory=dict)

    def add(self, field_id: str, message: str) -> None:
        self._by_field.setdefault(field_id, message)  # the first problem with a field is the one to fix first

    def __bool__(self) -> bool:
        return bool(self._by_field)

    def __contains__(self, field_id: str) -> bool:
        return field_id in self._by_field

    def summary(self) -> list[dict[str, str]]:
        return [{"text": message, "href": f"#{field_id}"} for field_id, message in self._by_field.items()]

    def at(self, field_id: str) -> dict[str, str] | None:
        """The errorMessage parameter of a GOV.UK macro for this field, or None when it is fine."""
        message = self._by_field.get(field_id)
        return {"text": message} if message else None

    def message(self, field_id: str) -> str | None:
        return self._by_field.get(field_id)


def required(errors: FormErrors, field_id: str, value: str, message: str, *, limit: int, too_long: str) -> str:
    """Check a required text answer against its limit; returns it (the page keeps what was typed either way)."""
    if not value:
        errors.add(field_id, message)
    elif len(value) > limit:
        errors.add(field_id, too_long)
    return value


def optional(errors: FormErrors, field_id: str, value: str, *, limit: int, too_long: str) -> str | None:
    if len(value) > limit:
        errors.add(field_id, too_long)
    return value or None
