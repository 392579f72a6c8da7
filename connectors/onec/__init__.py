"""The 1C:Enterprise side: OData, SOAP and change-feed clients, and the 1C emulator."""
