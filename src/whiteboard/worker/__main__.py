"""`python -m whiteboard.worker FD CONFIG_JSON`: the zygote, serving the parent on socket FD."""
import json
import socket
import sys

# Import by name so that harnesses and the zygote share one copy of the module.
from whiteboard.worker import process

process.zygote(socket.socket(fileno=int(sys.argv[1])), **json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}"))
