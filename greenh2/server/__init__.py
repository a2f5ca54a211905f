"""The process around the protocols: the CLI (`cli`), listen sockets (`binds`), TLS and the
self-signed certificate, protocol choice per connection (`connection`), one serving process
(`process`), the pre-fork master (`prefork`), the app loader and the demo app.
"""
