"""Built-in upstream kinds, one package each: adding a provider touches one folder."""
