"""Translates infra/template.yaml (AWS SAM) to plain CloudFormation, offline, with
aws-sam-translator, so cfn-lint and checkov check the resources that will be deployed.

Usage: python infra/translate.py [TEMPLATE] [OUT]   (defaults: infra/template.yaml, stdout)
"""

import json
import sys
from unittest import mock

import boto3
from samtranslator.public.translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


def main() -> int:
    source = sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"
    with open(source, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    # The translator asks IAM for managed policy ARNs only when a template names managed
    # policies by name; this one names none, so no AWS call is made.
    loader = mock.Mock(spec=ManagedPolicyLoader)
    loader.load.return_value = {}
    with mock.patch.object(boto3, "client"):
        # CodeUri must be an S3 location for the translator; the build replaces it anyway.
        fn = template["Resources"]["SgwardenFunction"]["Properties"]
        fn["CodeUri"] = "s3://sgwarden-build/sgwarden-lambda.zip"
        out = transform(template, {}, loader)
    text = json.dumps(out, indent=2, sort_keys=True)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
