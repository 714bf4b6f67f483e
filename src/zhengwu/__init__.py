"""zhengwu (政务): a provincial integrated online government service platform federated with the national one."""

__version__ = "0.1.0"
