{"algorithm": "ed25519", "key_id": "012d9c33d7da4b65", "signature": "ywuEiWKwFTtsUBK+gCc7cJ506/OOEOBZCgl8cWo6AjsJhPbNX1fWQikwQpTwu0qzL1zksGp2go4/w2uOA/WfAA=="}
