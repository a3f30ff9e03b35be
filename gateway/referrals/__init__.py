"""Cases, referrals from the Hub, one task per provider, and self-referral intake."""
