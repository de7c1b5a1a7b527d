{"algorithm": "ed25519", "key_id": "5cad49cb26c94793", "signature": "/fgdmt9xzCDROu340u93+xZRxcV5D7f5iQ4W0RXrJfGZqrTYET3sA2udGnvpMpUn7PkhSMWvNFWv0Hnu9BxTCA=="}
