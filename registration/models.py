"""Registration business (登记业务): cases, their steps, documents and the electronic archive."""
