"""marketing_campaign: content from OpenAI, delivered by email, social webhooks or SEO updates."""
