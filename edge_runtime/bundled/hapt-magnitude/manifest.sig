{"algorithm": "ed25519", "key_id": "c11912cba6ac712c", "signature": "/9QyEPwZN3gYnwFzLYJGyytiNaTOFAZWMgdgi0cQLyOqEAJ/eWsx4MBZyZyTdA4C2JN8uwl38w45Pu5HR/ulBA=="}
