#!/usr/bin/env python3
"""Validates tessera's served OpenAPI document with openapi-spec-validator.

usage: openapi_check.py TESSERA_BINARY
"""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import start_tessera  # noqa: E402
from openapi_spec_validator import validate  # noqa: E402


def main():
    proc, port, _ = start_tessera(sys.argv[1])
    try:
        doc = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json"))
    finally:
        proc.terminate()
    validate(doc)
    ops = sum(len(v) for v in doc["paths"].values())
    print(f"openapi: the document is valid OpenAPI {doc['openapi']} ({len(doc['paths'])} paths, {ops} operations)")
    print("openapi: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
