"""OFD (GB/T 33190) container, writer, signer, verifier and preview."""
