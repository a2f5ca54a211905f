"""What greenh2 tells the client in its SETTINGS, and how h2 itself is configured.

Kept apart from engine.py so the engine is only the receive/send path. h2 treats "too many
streams" as a connection error, so once the client has been told MAX_CONCURRENT_STREAMS, h2's
own limit moves out of the way (H2_STREAM_CAP) and the session refuses excess streams one by
one with REFUSED_STREAM (RFC 9113 §5.1.2), counting live handlers.
"""
from __future__ import annotations

from h2.config import H2Configuration
from h2.settings import SettingCodes, Settings

from greenh2.config import Config

H2_STREAM_CAP = 2**31 - 1  # h2's own stream limit once the client has been told ours


def h2_configuration() -> H2Configuration:
    # Outbound headers are validated once, in the WSGI layer, when the app calls start_response;
    # inbound ones once per block in request.py (a malformed request is a stream error there,
    # RFC 9113 §8.1.1, where h2 would end the connection).
    return H2Configuration(client_side=False, header_encoding=None,
                           validate_outbound_headers=False, normalize_outbound_headers=False,
                           validate_inbound_headers=False, normalize_inbound_headers=False)


def local_settings(cfg: Config, max_streams: int) -> Settings:
    """Our SETTINGS (RFC 9113 §6.5.2); `max_streams` is what the client is told, or h2's cap."""
    values = {
        SettingCodes.MAX_CONCURRENT_STREAMS: max_streams,
        SettingCodes.INITIAL_WINDOW_SIZE: cfg.initial_window_size,
        SettingCodes.MAX_FRAME_SIZE: cfg.max_frame_size,
        SettingCodes.MAX_HEADER_LIST_SIZE: cfg.max_header_list_size,
        SettingCodes.HEADER_TABLE_SIZE: cfg.header_table_size,
    }
    if cfg.websocket:  # RFC 8441 §3: extended CONNECT (WebSocket over a stream) accepted
        values[SettingCodes.ENABLE_CONNECT_PROTOCOL] = 1
    return Settings(client=False, initial_values=values)
