#!/bin/sh
# Copy the bot's EventBridge API key (CHATOPS_EVENTS_API_KEY, kept in Secrets Manager) into the EventBridge
# connection the security-events module created with a placeholder, so the key never enters Terraform state.
# Usage: set-events-api-key.sh CONNECTION_NAME SECRET_ARN [REGION]   (terraform output set_api_key_command)
# Needs: secretsmanager:GetSecretValue on SECRET_ARN and events:UpdateConnection on the connection.
# The key goes from one AWS call to the other through a pipe: never in argv, a file, or the terminal.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 CONNECTION_NAME SECRET_ARN [REGION]" >&2; exit 2; }
connection=$1 secret=$2
region=${3:-${AWS_REGION:-us-east-1}}
aws secretsmanager get-secret-value --region "$region" --secret-id "$secret" --query SecretString --output text |
  python3 -c 'import json, sys
key = sys.stdin.read().rstrip("\n")
if not key:
    sys.exit("the secret is empty")
print(json.dumps({"Name": sys.argv[1], "AuthorizationType": "API_KEY",
                  "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": key}}}))' \
    "$connection" |
  aws events update-connection --region "$region" --cli-input-json file:///dev/stdin --query ConnectionState --output text
