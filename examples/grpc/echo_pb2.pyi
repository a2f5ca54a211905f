from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Msg(_message.Message):
    __slots__ = ("text", "payload", "number")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    text: str
    payload: bytes
    number: int
    def __init__(self, text: _Optional[str] = ..., payload: _Optional[bytes] = ..., number: _Optional[int] = ...) -> None: ...

class SleepRequest(_message.Message):
    __slots__ = ("seconds", "key")
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    seconds: float
    key: str
    def __init__(self, seconds: _Optional[float] = ..., key: _Optional[str] = ...) -> None: ...

class SleepReport(_message.Message):
    __slots__ = ("key", "state", "elapsed", "exception", "cancelled")
    KEY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    key: str
    state: str
    elapsed: float
    exception: str
    cancelled: bool
    def __init__(self, key: _Optional[str] = ..., state: _Optional[str] = ..., elapsed: _Optional[float] = ..., exception: _Optional[str] = ..., cancelled: _Optional[bool] = ...) -> None: ...
