using System.Text;
using SmbLayer.Protocol;
using static SmbLayer.Tests.Protocol.WireTestHelpers;

namespace SmbLayer.Tests.Protocol;

public class RequestEncodingTests
{
    private const int H = 64; // header size: every offset below is header-relative
    private static readonly Smb2FileId FileId = new(0x1122334455667788, 0x99AABBCCDDEEFF00);

    private static void AssertFileId(byte[] m, int offset)
    {
        Assert.Equal(FileId.Persistent, U64(m, offset));
        Assert.Equal(FileId.Volatile, U64(m, offset + 8));
    }

    [Fact]
    public void Negotiate_With311_WritesAlignedContexts()
    {
        var salt = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        var guid = Guid.NewGuid();
        var request = new NegotiateRequest
        {
            Dialects = [SmbDialect.Smb202, SmbDialect.Smb210, SmbDialect.Smb300, SmbDialect.Smb302, SmbDialect.Smb311],
            SecurityMode = SecurityMode.SigningEnabled,
            Capabilities = GlobalCapabilities.Dfs | GlobalCapabilities.Leasing | GlobalCapabilities.LargeMtu | GlobalCapabilities.Encryption,
            ClientGuid = guid,
            PreauthSalt = salt,
            Ciphers = [CipherId.Aes128Gcm, CipherId.Aes128Ccm, CipherId.Aes256Gcm, CipherId.Aes256Ccm],
            SigningAlgorithms = [Smb2SigningAlgorithmId.AesGmac, Smb2SigningAlgorithmId.AesCmac, Smb2SigningAlgorithmId.HmacSha256],
        };
        var m = Encode(request);

        Assert.Equal(36, U16(m, H));
        Assert.Equal(5, U16(m, H + 2));
        Assert.Equal(1, U16(m, H + 4));
        Assert.Equal(0x47u, U32(m, H + 8));
        Assert.Equal(guid, new Guid(m.AsSpan(H + 12, 16)));
        Assert.Equal(0x0311, U16(m, H + 36 + 8));
        // Dialects end at 64+36+10 = 110; the list starts at the next multiple of 8.
        Assert.Equal(112u, U32(m, H + 28));
        Assert.Equal(3, U16(m, H + 32));
        // PREAUTH_INTEGRITY_CAPABILITIES
        Assert.Equal(1, U16(m, 112));
        Assert.Equal(38, U16(m, 114));
        Assert.Equal(1, U16(m, 120));       // HashAlgorithmCount
        Assert.Equal(32, U16(m, 122));      // SaltLength
        Assert.Equal(1, U16(m, 124));       // SHA-512
        Assert.Equal(salt, m[126..158]);
        // ENCRYPTION_CAPABILITIES at Align8(158) = 160
        Assert.Equal(2, U16(m, 160));
        Assert.Equal(10, U16(m, 162));
        Assert.Equal(4, U16(m, 168));
        Assert.Equal([2, 1, 4, 3], Enumerable.Range(0, 4).Select(i => (int)U16(m, 170 + (2 * i))));
        // SIGNING_CAPABILITIES at Align8(178) = 184
        Assert.Equal(8, U16(m, 184));
        Assert.Equal(8, U16(m, 186));
        Assert.Equal(3, U16(m, 192));
        Assert.Equal([2, 1, 0], Enumerable.Range(0, 3).Select(i => (int)U16(m, 194 + (2 * i))));
        Assert.Equal(200, m.Length); // no padding after the last context
    }

    [Fact]
    public void Negotiate_Without311_HasNoContexts()
    {
        var m = Encode(new NegotiateRequest { Dialects = [SmbDialect.Smb210, SmbDialect.Smb300], ClientGuid = Guid.NewGuid() });

        Assert.Equal(H + 36 + 4, m.Length);
        Assert.Equal(0ul, U64(m, H + 28)); // ClientStartTime
    }

    [Fact]
    public void Negotiate_311WithoutSalt_Throws()
    {
        var request = new NegotiateRequest { Dialects = [SmbDialect.Smb311] };
        Assert.Throws<ArgumentException>(() => request.BodySize);
    }

    [Fact]
    public void SessionSetup_WithToken_PointsBufferAfterFixedPart()
    {
        var token = new byte[] { 0x60, 0x01, 0x02 };
        var m = Encode(new SessionSetupRequest { SecurityBuffer = token, PreviousSessionId = 0x42, SecurityMode = SecurityMode.SigningRequired });

        Assert.Equal(25, U16(m, H));
        Assert.Equal(2, m[H + 3]);
        Assert.Equal(0x58, U16(m, H + 12));
        Assert.Equal(3, U16(m, H + 14));
        Assert.Equal(0x42ul, U64(m, H + 16));
        Assert.Equal(token, m[0x58..]);
    }

    [Fact]
    public void SessionSetup_EmptyToken_StillWritesOneBufferByte()
    {
        Assert.Equal(H + 25, Encode(new SessionSetupRequest()).Length);
    }

    [Fact]
    public void TreeConnect_Path_IsUtf16AtOffset0x48()
    {
        var m = Encode(new TreeConnectRequest(@"\\server\share"));

        Assert.Equal(9, U16(m, H));
        Assert.Equal(0x48, U16(m, H + 4));
        Assert.Equal(28, U16(m, H + 6));
        Assert.Equal(@"\\server\share", Encoding.Unicode.GetString(m, 0x48, 28));
    }

    [Theory]
    [InlineData(typeof(LogoffRequest), (ushort)Smb2Command.Logoff)]
    [InlineData(typeof(TreeDisconnectRequest), (ushort)Smb2Command.TreeDisconnect)]
    [InlineData(typeof(EchoRequest), (ushort)Smb2Command.Echo)]
    [InlineData(typeof(CancelRequest), (ushort)Smb2Command.Cancel)]
    public void FourByteRequests_Encode_StructureSize4(Type type, ushort commandCode)
    {
        var command = (Smb2Command)commandCode;
        var request = (ISmb2Request)Activator.CreateInstance(type)!;
        var m = Encode(request);

        Assert.Equal(command, request.Command);
        Assert.Equal(H + 4, m.Length);
        Assert.Equal(4, U16(m, H));
        Assert.Equal(0, U16(m, H + 2));
    }

    [Fact]
    public void Create_WithName_WritesFixedFieldsAndName()
    {
        var m = Encode(new CreateRequest(@"dir\file.txt")
        {
            RequestedOplockLevel = OplockLevel.Batch,
            DesiredAccess = AccessMask.GenericRead | AccessMask.Synchronize,
            FileAttributes = FileAttributes.Normal,
            ShareAccess = ShareAccess.All,
            CreateDisposition = CreateDisposition.OpenIf,
            CreateOptions = CreateOptions.NonDirectoryFile,
        });

        Assert.Equal(57, U16(m, H));
        Assert.Equal(9, m[H + 3]);
        Assert.Equal(2u, U32(m, H + 4)); // Impersonation
        Assert.Equal(0x80100000u, U32(m, H + 24));
        Assert.Equal(0x80u, U32(m, H + 28));
        Assert.Equal(7u, U32(m, H + 32));
        Assert.Equal(3u, U32(m, H + 36));
        Assert.Equal(0x40u, U32(m, H + 40));
        Assert.Equal(0x78, U16(m, H + 44));
        Assert.Equal(24, U16(m, H + 46));
        Assert.Equal(0u, U32(m, H + 48));
        Assert.Equal(@"dir\file.txt", Encoding.Unicode.GetString(m, 0x78, 24));
        Assert.Equal(0x78 + 24, m.Length);
    }

    [Fact]
    public void Create_EmptyName_EncodesOneBufferByte()
    {
        var m = Encode(new CreateRequest(""));

        Assert.Equal(H + 57, m.Length);
        Assert.Equal(0x78, U16(m, H + 44));
        Assert.Equal(0, U16(m, H + 46));
    }

    [Fact]
    public void Create_WithContexts_ChainIsAlignedAndParsesBack()
    {
        var leaseKey = Guid.NewGuid();
        var createGuid = Guid.NewGuid();
        var contexts = new[]
        {
            CreateContextCodec.DurableV2Request(createGuid, 60000, persistent: true),
            CreateContextCodec.MaximalAccessRequest(),
            CreateContextCodec.QueryOnDiskIdRequest(),
            CreateContextCodec.LeaseV2Request(leaseKey, LeaseState.ReadCaching | LeaseState.HandleCaching, Guid.NewGuid(), 3),
        };
        var m = Encode(new CreateRequest("a.txt") { CreateContexts = contexts, RequestedOplockLevel = OplockLevel.Lease });

        var offset = (int)U32(m, H + 48);
        var length = (int)U32(m, H + 52);
        Assert.Equal(0, offset % 8);
        Assert.Equal(0x78 + 16, offset); // "a.txt" is 10 bytes: 0x82 rounds up to 0x88
        Assert.Equal(m.Length, offset + length);
        // First context: Next, NameOffset 16, NameLength 4, DataOffset 24, DataLength 32.
        Assert.Equal(56u, U32(m, offset));
        Assert.Equal(16, U16(m, offset + 4));
        Assert.Equal(4, U16(m, offset + 6));
        Assert.Equal(24, U16(m, offset + 10));
        Assert.Equal(32u, U32(m, offset + 12));
        Assert.Equal("DH2Q", Encoding.ASCII.GetString(m, offset + 16, 4));

        var parsed = CreateContextCodec.ParseChain(m.AsSpan(offset, length), "test");
        Assert.Equal(["DH2Q", "MxAc", "QFid", "RqLs"], parsed.Select(c => c.Name));
        for (var i = 0; i < contexts.Length; i++)
        {
            Assert.Equal(contexts[i].Data, parsed[i].Data);
        }
    }

    [Fact]
    public void Create_EmptyNameWithContexts_ChainStartsAtBuffer()
    {
        var m = Encode(new CreateRequest("") { CreateContexts = [CreateContextCodec.MaximalAccessRequest()] });

        Assert.Equal(0x78u, U32(m, H + 48));
        Assert.Equal(20u, U32(m, H + 52));
    }

    [Fact]
    public void CreateContext_DurableV2AndLeaseV2_FollowSpecLayout()
    {
        var createGuid = Guid.NewGuid();
        var dh2q = CreateContextCodec.DurableV2Request(createGuid, 1234, persistent: true).Data;
        Assert.Equal(32, dh2q.Length);
        Assert.Equal(1234u, BitConverter.ToUInt32(dh2q, 0));
        Assert.Equal(2u, BitConverter.ToUInt32(dh2q, 4));
        Assert.Equal(createGuid, new Guid(dh2q.AsSpan(16, 16)));

        var dh2c = CreateContextCodec.DurableV2Reconnect(FileId, createGuid, persistent: false).Data;
        Assert.Equal(36, dh2c.Length);
        Assert.Equal(FileId.Persistent, BitConverter.ToUInt64(dh2c, 0));
        Assert.Equal(createGuid, new Guid(dh2c.AsSpan(16, 16)));

        Assert.Equal(16, CreateContextCodec.DurableV1Request().Data.Length);
        Assert.Equal(FileId, Smb2FileId.Read(CreateContextCodec.DurableV1Reconnect(FileId).Data));

        var key = Guid.NewGuid();
        var parent = Guid.NewGuid();
        var lease = CreateContextCodec.LeaseV2Request(key, LeaseState.ReadCaching | LeaseState.WriteCaching, parent, 7).Data;
        Assert.Equal(52, lease.Length);
        Assert.Equal(key, new Guid(lease.AsSpan(0, 16)));
        Assert.Equal(5u, BitConverter.ToUInt32(lease, 16));
        Assert.Equal(4u, BitConverter.ToUInt32(lease, 20)); // PARENT_LEASE_KEY_SET
        Assert.Equal(parent, new Guid(lease.AsSpan(32, 16)));
        Assert.Equal(7, BitConverter.ToUInt16(lease, 48));
        Assert.Equal(32, CreateContextCodec.LeaseV1Request(key, LeaseState.ReadCaching).Data.Length);
        Assert.Equal(8, CreateContextCodec.MaximalAccessRequest(0x1234).Data.Length);
    }

    [Fact]
    public void Close_PostQuery_WritesFlagsAndFileId()
    {
        var m = Encode(new CloseRequest(FileId) { Flags = CloseFlags.PostQueryAttributes });

        Assert.Equal(H + 24, m.Length);
        Assert.Equal(24, U16(m, H));
        Assert.Equal(1, U16(m, H + 2));
        AssertFileId(m, H + 8);
    }

    [Fact]
    public void Flush_WritesFileId()
    {
        var m = Encode(new FlushRequest(FileId));

        Assert.Equal(H + 24, m.Length);
        AssertFileId(m, H + 8);
    }

    [Fact]
    public void Read_WritesLengthOffsetAndOneBufferByte()
    {
        var request = new ReadRequest(FileId, 0x1_0000_0000, 65536) { MinimumCount = 1 };
        var m = Encode(request);

        Assert.Equal(H + 49, m.Length);
        Assert.Equal(49, U16(m, H));
        Assert.Equal(0x50, m[H + 2]);
        Assert.Equal(65536u, U32(m, H + 4));
        Assert.Equal(0x1_0000_0000ul, U64(m, H + 8));
        AssertFileId(m, H + 16);
        Assert.Equal(1u, U32(m, H + 32));
        Assert.Equal(0u, U32(m, H + 36)); // Channel
        Assert.Equal(65536, request.PayloadSize);
    }

    [Fact]
    public void Write_DataFollowsFixedPartAt0x70()
    {
        var data = new byte[] { 1, 2, 3, 4, 5 };
        var request = new WriteRequest(FileId, 10, data);
        var m = Encode(request);

        Assert.Equal(49, U16(m, H));
        Assert.Equal(0x70, U16(m, H + 2));
        Assert.Equal(5u, U32(m, H + 4));
        Assert.Equal(10ul, U64(m, H + 8));
        AssertFileId(m, H + 16);
        Assert.Equal(data, m[0x70..]);
        Assert.Equal(5, request.PayloadSize);
        Assert.Equal(H + 49, Encode(new WriteRequest(FileId, 0, ReadOnlyMemory<byte>.Empty)).Length);
    }

    [Fact]
    public void QueryDirectory_WritesClassFlagsAndPattern()
    {
        var request = new QueryDirectoryRequest(FileId, "*", FileInformationClass.FileIdBothDirectoryInformation, 65536)
        {
            Flags = QueryDirectoryFlags.RestartScans | QueryDirectoryFlags.ReturnSingleEntry,
        };
        var m = Encode(request);

        Assert.Equal(33, U16(m, H));
        Assert.Equal(0x25, m[H + 2]);
        Assert.Equal(3, m[H + 3]);
        AssertFileId(m, H + 8);
        Assert.Equal(0x60, U16(m, H + 24));
        Assert.Equal(2, U16(m, H + 26));
        Assert.Equal(65536u, U32(m, H + 28));
        Assert.Equal("*", Encoding.Unicode.GetString(m, 0x60, 2));
        Assert.Equal(65536, request.PayloadSize);
    }

    [Fact]
    public void QueryInfo_NoInput_WritesOneBufferByteAndZeroOffset()
    {
        var m = Encode(QueryInfoRequest.ForFile(FileId, FileInformationClass.FileAllInformation, 4096));

        Assert.Equal(H + 41, m.Length);
        Assert.Equal(41, U16(m, H));
        Assert.Equal(1, m[H + 2]);
        Assert.Equal(0x12, m[H + 3]);
        Assert.Equal(4096u, U32(m, H + 4));
        Assert.Equal(0, U16(m, H + 8));
        Assert.Equal(0u, U32(m, H + 12));
        AssertFileId(m, H + 24);
    }

    [Fact]
    public void QueryInfo_SecurityWithInput_PointsInputAt0x68()
    {
        var request = QueryInfoRequest.ForSecurity(FileId, SecurityInformation.Owner | SecurityInformation.Dacl, 1024);
        var m = Encode(new QueryInfoRequest(FileId, InfoType.Security, 0, 1024) { AdditionalInformation = 5, InputBuffer = new byte[] { 9, 9 } });

        Assert.Equal(5u, request.AdditionalInformation);
        Assert.Equal(3, m[H + 2]);
        Assert.Equal(0x68, U16(m, H + 8));
        Assert.Equal(2u, U32(m, H + 12));
        Assert.Equal(5u, U32(m, H + 16));
        Assert.Equal(new byte[] { 9, 9 }, m[0x68..]);
    }

    [Fact]
    public void SetInfo_Rename_UsesSmb2RenameLayout()
    {
        var buffer = FileInfoBuilders.Rename(@"new\name.txt", replaceIfExists: true);
        var m = Encode(SetInfoRequest.ForFile(FileId, FileInformationClass.FileRenameInformation, buffer));

        Assert.Equal(33, U16(m, H));
        Assert.Equal(1, m[H + 2]);
        Assert.Equal(10, m[H + 3]);
        Assert.Equal((uint)buffer.Length, U32(m, H + 4));
        Assert.Equal(0x60, U16(m, H + 8));
        AssertFileId(m, H + 16);
        Assert.Equal(buffer, m[0x60..]);

        Assert.Equal(1, buffer[0]);
        Assert.Equal(0ul, BitConverter.ToUInt64(buffer, 8)); // RootDirectory
        Assert.Equal(24u, BitConverter.ToUInt32(buffer, 16));
        Assert.Equal(@"new\name.txt", Encoding.Unicode.GetString(buffer, 20, 24));
    }

    [Fact]
    public void SetInfoBuilders_ShortRenameDispositionEndOfFileBasic_HaveSpecSizes()
    {
        Assert.Equal(24, FileInfoBuilders.Rename("a", false).Length);
        Assert.Equal(new byte[] { 1 }, FileInfoBuilders.Disposition(true));
        Assert.Equal(BitConverter.GetBytes(123456789L), FileInfoBuilders.EndOfFile(123456789));
        var basic = new FileBasicInformation(1, 2, 3, 4, FileAttributes.ReadOnly);
        var bytes = FileInfoBuilders.Basic(basic);
        Assert.Equal(40, bytes.Length);
        Assert.Equal(basic, FileBasicInformation.Parse(bytes));
    }

    [Fact]
    public void OplockBreakAcknowledgment_Is24Bytes()
    {
        var m = Encode(new OplockBreakAcknowledgment(FileId, OplockLevel.LevelII));

        Assert.Equal(H + 24, m.Length);
        Assert.Equal(24, U16(m, H));
        Assert.Equal(1, m[H + 2]);
        AssertFileId(m, H + 8);
    }

    [Fact]
    public void LeaseBreakAcknowledgment_Is36Bytes()
    {
        var key = Guid.NewGuid();
        var m = Encode(new LeaseBreakAcknowledgment(key, LeaseState.ReadCaching));

        Assert.Equal(H + 36, m.Length);
        Assert.Equal(36, U16(m, H));
        Assert.Equal(key, new Guid(m.AsSpan(H + 8, 16)));
        Assert.Equal(1u, U32(m, H + 24));
        Assert.Equal(0ul, U64(m, H + 28));
    }

    [Fact]
    public void Ioctl_ValidateNegotiateInfo_WritesFsctlAndPayload()
    {
        var guid = Guid.NewGuid();
        var request = IoctlRequest.ValidateNegotiateInfo(GlobalCapabilities.Leasing, guid, SecurityMode.SigningEnabled,
            [SmbDialect.Smb300, SmbDialect.Smb302]);
        var m = Encode(request);

        Assert.Equal(57, U16(m, H));
        Assert.Equal(0x00140204u, U32(m, H + 4));
        Assert.Equal(ulong.MaxValue, U64(m, H + 8));
        Assert.Equal(ulong.MaxValue, U64(m, H + 16));
        Assert.Equal(0x78u, U32(m, H + 24));
        Assert.Equal(28u, U32(m, H + 28));
        Assert.Equal(24u, U32(m, H + 44));
        Assert.Equal(1u, U32(m, H + 48));
        Assert.Equal(2u, U32(m, 0x78));
        Assert.Equal(guid, new Guid(m.AsSpan(0x78 + 4, 16)));
        Assert.Equal(1, U16(m, 0x78 + 20));
        Assert.Equal(2, U16(m, 0x78 + 22));
        Assert.Equal(0x0300, U16(m, 0x78 + 24));
        Assert.Equal(0x0302, U16(m, 0x78 + 26));
        Assert.Equal(0x78 + 28, m.Length);
    }

    [Fact]
    public void FileTime_RoundTripsAndMapsZero()
    {
        var t = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);
        Assert.Equal(t, FileTime.ToDateTimeOffset(FileTime.FromDateTimeOffset(t)));
        Assert.Equal(DateTimeOffset.MinValue, FileTime.ToDateTimeOffset(0));
        Assert.Equal(0ul, FileTime.FromDateTimeOffset(DateTimeOffset.MinValue));
        Assert.Equal(DateTimeOffset.MaxValue, FileTime.ToDateTimeOffset(ulong.MaxValue));
        Assert.Equal(116444736000000000ul, FileTime.FromDateTimeOffset(DateTimeOffset.UnixEpoch));
    }
}
