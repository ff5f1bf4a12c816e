using System.Buffers.Binary;

namespace SmbLayer.Protocol;

/// <summary>SMB2 TREE_CONNECT request (MS-SMB2 §2.2.9).</summary>
internal sealed class TreeConnectRequest : ISmb2Request
{
    public const ushort StructureSizeValue = 9;
    private const int FixedSize = 8;
    private const int OffFlags = 2;
    private const int OffPathOffset = 4;
    private const int OffPathLength = 6;
    private const int PathPosition = FixedSize;

    public TreeConnectRequest(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = path;
    }

    public Smb2Command Command => Smb2Command.TreeConnect;

    /// <summary>Share path in the form <c>\\server\share</c>.</summary>
    public string Path { get; }

    /// <summary>3.1.1 only; 0 otherwise (Reserved).</summary>
    public TreeConnectFlags Flags { get; init; }

    public int BodySize => FixedSize + Smb2Wire.Utf16Length(Path);
    public int PayloadSize => 0;

    public void WriteBody(Span<byte> body)
    {
        var pathLength = Smb2Wire.Utf16Length(Path);
        Smb2Wire.CheckFits(pathLength, ushort.MaxValue, "TREE_CONNECT", nameof(Path));
        body[..FixedSize].Clear();
        Smb2Wire.WriteStructureSize(body, StructureSizeValue);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffFlags..], (ushort)Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffPathOffset..], (ushort)Smb2Wire.HeaderOffset(PathPosition));
        BinaryPrimitives.WriteUInt16LittleEndian(body[OffPathLength..], (ushort)pathLength);
        Smb2Wire.WriteUtf16(Path, body[PathPosition..]);
    }
}

/// <summary>SMB2 TREE_CONNECT response (MS-SMB2 §2.2.10).</summary>
internal sealed class TreeConnectResponse
{
    public const ushort StructureSizeValue = 16;
    private const string Name = "TREE_CONNECT response";
    private const int FixedSize = 16;
    private const int OffShareType = 2;
    private const int OffShareFlags = 4;
    private const int OffCapabilities = 8;
    private const int OffMaximalAccess = 12;

    public ShareType ShareType { get; private init; }
    public ShareFlags ShareFlags { get; private init; }
    public ShareCapabilities Capabilities { get; private init; }
    public AccessMask MaximalAccess { get; private init; }

    public bool EncryptData => (ShareFlags & ShareFlags.EncryptData) != 0;
    public bool IsContinuouslyAvailable => (Capabilities & ShareCapabilities.ContinuousAvailability) != 0;

    public static TreeConnectResponse Parse(ReadOnlySpan<byte> message)
    {
        var body = Smb2Wire.CheckBody(message, StructureSizeValue, FixedSize, Name);
        return new TreeConnectResponse
        {
            ShareType = (ShareType)body[OffShareType],
            ShareFlags = (ShareFlags)BinaryPrimitives.ReadUInt32LittleEndian(body[OffShareFlags..]),
            Capabilities = (ShareCapabilities)BinaryPrimitives.ReadUInt32LittleEndian(body[OffCapabilities..]),
            MaximalAccess = (AccessMask)BinaryPrimitives.ReadUInt32LittleEndian(body[OffMaximalAccess..]),
        };
    }
}
