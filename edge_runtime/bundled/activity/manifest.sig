{"algorithm": "ed25519", "key_id": "5cad49cb26c94793", "signature": "wXsXHKC5CBeun6typg5Q3YV5KE1gwHC1q//1C3eqqlW5UhJju5FOFBNNEFFOBu3sTZo5QL7CAGiQlmbyVVvSBA=="}
