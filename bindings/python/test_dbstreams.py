"""Checks the binding against the built library (DBSTREAMS_LIB), no servers:
a bad configuration raises with its JSON path; a refused connection makes a
stream whose source is INIT FAILED with the client library's message."""
import sys

import dbstreams


def main():
    failures = 0
    try:
        dbstreams.validate({"source": {"type": "oracle"}})
        print("FAIL: invalid config accepted")
        failures += 1
    except dbstreams.Error as e:
        if "source.type" not in str(e) or e.code != -2:
            print("FAIL: unexpected error", e.code, e)
            failures += 1

    cfg = {"source": {"type": "postgresql", "connection": "host=127.0.0.1 port=1 connect_timeout=2"},
           "target": {"type": "postgresql", "connection": "host=127.0.0.1 port=1 connect_timeout=2"}}
    with dbstreams.Stream(cfg) as s:
        st = s.stat()
        if len(s.id) != 27 or st["streamID"] != s.id:
            print("FAIL: stream id", s.id, st)
            failures += 1
        if st["target"]["status"] != "INIT FAILED" or "refused" not in st["target"]["message"]:
            print("FAIL: expected target INIT FAILED with the refusal:", st)
            failures += 1
        if st["target"]["reconnects"] != 0 or st["target"]["reconnecting"] or \
                st["hub"]["reconnects"] != 0 or st["source"]["lag_bytes"] != 0:
            print("FAIL: a stream that never connected shows reconnects or lag:", st)
            failures += 1
        if s.config()["id"] != s.id:
            print("FAIL: config id", s.config())
            failures += 1
    print(f"{0 if failures else 1} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
