"""Typed errors of the mapping layer: what was wrong with a value coming from or going to 1C.

Every message is safe to log as it is: it names the field, the entity and the kind of problem,
never the value itself (a phone is masked to its last two digits, a birth date or a name is not
repeated at all). ``code`` is stable, so sync jobs and APIs can branch on it.
"""

from __future__ import annotations

from bonusbridge.errors import BonusBridgeError


class MappingError(BonusBridgeError):
    """A value that cannot cross between 1C and the hub. ``field`` says where, when known."""

    code = "mapping_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def in_context(self, where: str) -> MappingError:
        """The same error, its message prefixed with where it happened (entity set, key, field)."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.args = (f"{where}: {self.args[0]}" if self.args else where,)
        return clone


class InvalidPhone(MappingError):
    """A phone that is not a valid number. ``reason`` is a ``PhoneProblem`` value."""

    code = "invalid_phone"

    def __init__(self, message: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class InvalidReference(MappingError):
    """A 1C reference (``X_Key``) that is not a GUID."""

    code = "invalid_reference"


class InvalidDate(MappingError):
    """A 1C date that is not ``YYYY-MM-DDTHH:MM:SS`` or lies outside 1C's range, or a naive hub time."""

    code = "invalid_date"


class InvalidAmountText(MappingError):
    """A 1C number that is not an exact decimal with at most two places (or arrived as a float)."""

    code = "invalid_amount_text"


class InvalidEmail(MappingError):
    code = "invalid_email"


class InvalidName(MappingError):
    """A full name that cannot be split or joined without losing a part."""

    code = "invalid_name"


class InvalidEnumValue(MappingError):
    """A 1C enum value (or hub value) the profile's enum map does not know."""

    code = "invalid_enum_value"


class InvalidValueType(MappingError):
    """A value of the wrong JSON type, e.g. a number where 1C sends a string."""

    code = "invalid_value_type"


class MissingField(MappingError):
    """A hub field the profile needs to build a 1C object was not given."""

    code = "missing_field"


class ControlCharacter(MappingError):
    """Text holding a control character: one of them makes 1C fail a whole exchange batch (400)."""

    code = "control_character"

    def __init__(self, message: str, *, codepoint: int, position: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.codepoint = codepoint
        self.position = position


class ProfileError(MappingError):
    """A mapping profile (YAML) that cannot be used; the message names the file and the key."""

    code = "invalid_profile"
