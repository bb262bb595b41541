"""one2one, by capability: shared < tracking < rules < scoring < profiles < segments < scenarios < engagement <
delivery < privacy, composed by bootstrap and translated by api/ and handlers/ (docs/ARCHITECTURE.md)."""
