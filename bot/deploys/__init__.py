"""The deploy flow beyond one request (issue 25): promotion order, emergency deploys, deploy notes."""
