using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>SMB2 SESSION_SETUP request (MS-SMB2 §2.2.5).</summary>
internal sealed class SessionSetupRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 25;
    private const int FixedSize = 24;
    private const int OffFlags = 2;
    private const int OffSecurityMode = 3;
    private const int OffCapabilities = 4;
    private const int OffChannel = 8;
    private const int OffSecurityBufferOffset = 12;
    private const int OffSecurityBufferLength = 14;
    private const int OffPreviousSessionId = 16;
    private const int BufferPosition = FixedSize;

    public Smb2Command Command => Smb2Command.SessionSetup;

    public SessionSetupRequestFlags Flags { get; init; }
    /// <summary>Written as one byte (SigningEnabled / SigningRequired).</summary>
    public SecurityMode SecurityMode { get; init; } = SecurityMode.SigningEnabled;
    /// <summary>Only <see cref="GlobalCapabilities.Dfs"/> is meaningful here.</summary>
    public GlobalCapabilities Capabilities { get; init; }
    public ulong PreviousSessionId { get; init; }
    /// <summary>GSS token (SPNEGO / NTLMSSP / Kerberos).</summary>
    public ReadOnlyMemory<byte> SecurityBuffer { get; init; }

    /// <summary>
    /// The fixed part is 24 bytes and StructureSize says 25: the odd byte is the first byte of
    /// the security buffer; an empty buffer still writes one zero byte.
    /// </summary>
    public int BodySize => FixedSize + Math.Max(1, SecurityBuffer.Length);
    public int PayloadSize => 0;

    public void WriteBody(Span<byte> body)
    {
        Smb2Wire.CheckFits(SecurityBuffer.Length, ushort.MaxValue, "SESSION_SETUP", nameof(SecurityBuffer));
        body[..BodySize].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        body[OffFlags] = (byte)Flags;
        body[OffSecurityMode] = (byte)SecurityMode;
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffCapabilities..], (uint)Capabilities);
        BinaryPrimitives.WriteUInt32LittleEndian(body[OffChannel..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffSecurityBufferOffset..], (ushort)Smb2Wire.HeaderOffset(BufferPosition));
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffSecurityBufferLength..], (ushort)SecurityBuffer.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(body[OffPreviousSessionId..], PreviousSessionId);
        SecurityBuffer.Span.CopyTo(body[BufferPosition..]);
    }
}

/// <summary>SMB2 SESSION_SETUP response (MS-SMB2 §2.2.6).</summary>
internal sealed class SessionSetupResponse
{
    public const ushort StructureSizeValue = 9;
    private const string Name = "SESSION_SETUP response";
    private const int FixedSize = 8;
    private const int OffSessionFlags = 2;
    private const int OffSecurityBufferOffset = 4;
    private const int OffSecurityBufferLength = 6;

    public SessionFlags SessionFlags { get; private init; }
    public byte[] SecurityBuffer { get; private init; } = [];

    public bool IsGuest => (SessionFlags & SessionFlags.IsGuest) != 0;
    public bool IsNull => (SessionFlags & SessionFlags.IsNull) != 0;
    public bool EncryptData => (SessionFlags & SessionFlags.EncryptData) != 0;

    /// <remarks>
    /// Also used for STATUS_MORE_PROCESSING_REQUIRED replies, which carry this body (not an
    /// ERROR body) with the next leg of the GSS exchange.
    /// </remarks>
    public static SessionSetupResponse Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, FixedSize, Name);
        var range = Smb2Wire.CheckBuffer(message,
            BinaryPrimitives.ReadUInt16LittleEndian(body[OffSecurityBufferOffset..]),
            BinaryPrimitives.ReadUInt16LittleEndian(body[OffSecurityBufferLength..]),
            Smb2Wire.HeaderOffset(FixedSize), Name, "SecurityBuffer");
        return new SessionSetupResponse
        {
            SessionFlags = (SessionFlags)BinaryPrimitives.ReadUInt16LittleEndian(body[OffSessionFlags..]),
            SecurityBuffer = message[range].ToArray(),
        };
    }
}
