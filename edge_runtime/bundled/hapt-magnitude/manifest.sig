{"algorithm": "ed25519", "key_id": "c11912cba6ac712c", "signature": "whFDa0PRzZhdy6OHd8qRMdWNuiIw3dfUQNk+hMVYHQ0VkoaaWu/Zhg0DJ5V69W1JuW7an+fN9hSc/9sldKlPCA=="}
