#!/bin/sh
# Write /etc/pumpapi/env from SSM Parameter Store: every parameter under /pumpapi/<stage>/
# becomes NAME=value (SecureStrings decrypted with the instance role's KMS grant). Mode 0640,
# readable by the pumpapi group only; secrets never reach the AMI, user data or the logs.
set -eu
STAGE="${PUMPAPI_STAGE:-production}"
REGION="$(curl -fsS -H "X-aws-ec2-metadata-token: $(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)" http://169.254.169.254/latest/meta-data/placement/region)"
umask 027
tmp="$(mktemp /etc/pumpapi/env.XXXXXX)"
aws ssm get-parameters-by-path --region "$REGION" --path "/pumpapi/$STAGE/" --recursive \
    --with-decryption --query 'Parameters[].[Name,Value]' --output text |
    while IFS="$(printf '\t')" read -r name value; do
        printf '%s=%s\n' "${name##*/}" "$value"
    done >"$tmp"
chgrp pumpapi "$tmp"
mv "$tmp" /etc/pumpapi/env
