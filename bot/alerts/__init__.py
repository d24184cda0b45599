"""Security alerts from AWS CloudTrail: normalize, detect (declarative rules), aggregate, alert cards."""
