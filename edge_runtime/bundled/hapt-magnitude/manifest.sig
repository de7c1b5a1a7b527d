{"algorithm": "ed25519", "key_id": "c11912cba6ac712c", "signature": "qYizKJlnJTb0Okc9qaigbFLpxPmj5RyLRzlIw+8ZBzgKIvgUSJqpPswU6xfbTCnw2YC9/N+Eh0ExQDh8EWdoCA=="}
