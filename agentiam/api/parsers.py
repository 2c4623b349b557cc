"""DRF's JSON parser through agentiam.jsonsafe: a body too deep, too large, not UTF-8 or not JSON answers
400 with the limit's code (json_too_deep, json_too_large, invalid_json) and a detail naming it."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from agentiam import jsonsafe


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            return jsonsafe.loads(raw)
        except jsonsafe.JsonRefused as error:
            raise ParseError(detail=error.detail, code=error.code) from None
