using SmbLayer.Protocol;

namespace SmbLayer.Transport;

/// <summary>What NEGOTIATE settled for a connection (MS-SMB2 §3.2.5.2).</summary>
internal sealed record NegotiatedParameters
{
    public required SmbDialect Dialect { get; init; }
    public Guid ServerGuid { get; init; }
    public uint Capabilities { get; init; }
    public ushort SecurityMode { get; init; }
    public int MaxTransactSize { get; init; } = 65536;
    public int MaxReadSize { get; init; } = 65536;
    public int MaxWriteSize { get; init; } = 65536;

    /// <summary>The server's GSS token from the NEGOTIATE response (SPNEGO hints).</summary>
    public byte[] SecurityBuffer { get; init; } = [];

    /// <summary>
    /// 3.1.1: the NEGOTIATE request and response exactly as they crossed the wire, the first two
    /// inputs of the pre-auth integrity hash (MS-SMB2 §3.2.5.2); empty for older dialects.
    /// </summary>
    public byte[][] PreauthMessages { get; init; } = [];

    /// <summary>3.1.1: cipher chosen by the server (0 when none).</summary>
    public ushort CipherId { get; init; }

    /// <summary>3.1.1: signing algorithm chosen by the server; null means the dialect default.</summary>
    public ushort? SigningAlgorithmId { get; init; }

    /// <summary>Server requires signing (SMB2_NEGOTIATE_SIGNING_REQUIRED).</summary>
    public bool ServerRequiresSigning => (SecurityMode & 0x0002) != 0;

    /// <summary>Multi-credit requests: dialect 2.1 or later and SMB2_GLOBAL_CAP_LARGE_MTU.</summary>
    public bool SupportsLargeMtu => Dialect >= SmbDialect.Smb210 && (Capabilities & 0x00000004) != 0;
}
