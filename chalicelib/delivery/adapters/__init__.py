"""DynamoDB, SES, SNS, SQS and webhook adapters of the delivery ports."""
