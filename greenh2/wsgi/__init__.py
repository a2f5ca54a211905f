"""PEP 3333, shared by every protocol: the environ (`environ`), start_response and the body
(`response`), trailer fields both ways (`trailers`), `wsgi.input` (`input_stream`), per-request
dispatch (`dispatch`), the optional OS thread runner (`threads`) and the access log (`accesslog`).
"""
