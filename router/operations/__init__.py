"""One handler per API surface (chat, passthrough, embeddings, images, Responses, token counting,
model lists), sharing the router's services."""
