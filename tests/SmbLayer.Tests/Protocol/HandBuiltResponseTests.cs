using SmbLayer.Protocol;

namespace SmbLayer.Tests.Protocol;

public class HandBuiltResponseTests
{
    [Fact]
    public void CreateResponse_WithContexts_DecodesEveryContext()
    {
        var r = CreateResponse.Parse(HandBuiltResponses.CreateWithContexts());

        Assert.Equal(OplockLevel.Lease, r.OplockLevel);
        Assert.Equal(CreateAction.Created, r.CreateAction);
        Assert.Equal(132000000000000002ul, r.LastWriteTime);
        Assert.Equal(4096, r.AllocationSize);
        Assert.Equal(100, r.EndOfFile);
        Assert.Equal(FileAttributes.Archive, r.FileAttributes);
        Assert.Equal(new Smb2FileId(0xAAAA, 0xBBBB), r.FileId);
        Assert.Equal(["MxAc", "QFid", "RqLs", "DH2Q", "DHnQ"], r.CreateContexts.Select(c => c.Name));
        Assert.Equal(new MaximalAccessResponse(NtStatus.Success, (AccessMask)0x001F01FF), r.MaximalAccess);
        Assert.Equal(new OnDiskIdResponse(0x1234, 0x5678), r.OnDiskId);
        var lease = r.Lease!.Value;
        Assert.Equal(2, lease.Version);
        Assert.Equal(HandBuiltResponses.LeaseKey, lease.LeaseKey);
        Assert.Equal(LeaseState.ReadCaching | LeaseState.HandleCaching | LeaseState.WriteCaching, lease.LeaseState);
        Assert.Equal(LeaseFlags.BreakInProgress, lease.Flags);
        Assert.Equal(HandBuiltResponses.ParentKey, lease.ParentLeaseKey);
        Assert.Equal(5, lease.Epoch);
        Assert.Equal(new DurableHandleV2Response(60000, DurableHandleFlags.Persistent), r.DurableV2);
        Assert.True(r.DurableV1Granted);
    }

    [Fact]
    public void OplockBreakMessage_ByStructureSize_PicksTheRightKind()
    {
        var lease = Assert.IsType<LeaseBreakNotification>(OplockBreakMessage.Parse(HandBuiltResponses.LeaseBreakNotification()));
        Assert.Equal(3, lease.NewEpoch);
        Assert.True(lease.AckRequired);
        Assert.Equal(HandBuiltResponses.LeaseKey, lease.LeaseKey);
        Assert.Equal((LeaseState)7, lease.CurrentLeaseState);
        Assert.Equal(LeaseState.ReadCaching, lease.NewLeaseState);

        var oplock = Assert.IsType<OplockBreak>(OplockBreakMessage.Parse(HandBuiltResponses.OplockBreakNotification()));
        Assert.Equal(OplockLevel.LevelII, oplock.OplockLevel);
        Assert.Equal(new Smb2FileId(0x10, 0x20), oplock.FileId);

        var response = Assert.IsType<LeaseBreakResponse>(OplockBreakMessage.Parse(HandBuiltResponses.LeaseBreakResponse()));
        Assert.Equal(LeaseState.ReadCaching, response.LeaseState);
    }

    [Fact]
    public void OplockBreakMessage_UnknownStructureSize_Throws()
    {
        var m = HandBuiltResponses.OplockBreakNotification();
        m[64] = 30;
        Assert.Throws<SmbProtocolException>(() => OplockBreakMessage.Parse(m));
    }

    [Fact]
    public void IoctlResponse_ValidateNegotiate_OutputParses()
    {
        var m = HandBuiltResponses.IoctlValidateNegotiate();
        var r = IoctlResponse.Parse(m);
        var v = ValidateNegotiateInfoCodec.ParseResponse(m.AsSpan()[r.OutputRange]);

        Assert.Equal(IoctlRequest.FsctlValidateNegotiateInfo, r.CtlCode);
        Assert.Equal(0, r.InputCount);
        Assert.Equal(112, r.OutputOffset);
        Assert.Equal(24, r.OutputCount);
        Assert.Equal((GlobalCapabilities)0x2F, v.Capabilities);
        Assert.Equal(HandBuiltResponses.ServerGuid, v.ServerGuid);
        Assert.Equal(SecurityMode.SigningEnabled, v.SecurityMode);
        Assert.Equal(SmbDialect.Smb302, v.Dialect);
    }

    [Fact]
    public void WriteResponse_Parses_Count()
    {
        Assert.Equal(65536u, WriteResponse.Parse(HandBuiltResponses.Write()).Count);
    }

    [Fact]
    public void ErrorResponse_WithContext_ParsesContext()
    {
        var r = Smb2ErrorResponse.Parse(HandBuiltResponses.ErrorWithContext());

        Assert.Equal(1, r.ErrorContextCount);
        Assert.Equal(16u, r.ByteCount);
        var context = Assert.Single(r.ErrorContexts);
        Assert.Equal(0u, context.ErrorId);
        Assert.Equal(BitConverter.GetBytes(0x0102030405060708UL), context.Data);
    }

    [Fact]
    public void SmallResponses_Parse()
    {
        Assert.NotNull(SetInfoResponse.Parse(HandBuiltResponses.SetInfo()));
        Assert.NotNull(FlushResponse.Parse(HandBuiltResponses.FourByte(Smb2Command.Flush)));
        Assert.NotNull(EchoResponse.Parse(HandBuiltResponses.FourByte(Smb2Command.Echo)));
        Assert.NotNull(LogoffResponse.Parse(HandBuiltResponses.FourByte(Smb2Command.Logoff)));
    }

    [Fact]
    public void Parsers_WrongStructureSize_Throw()
    {
        var m = HandBuiltResponses.Write();
        m[64] = 16;
        var ex = Assert.Throws<SmbProtocolException>(() => WriteResponse.Parse(m));
        Assert.Contains("StructureSize", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateContextChain_NextTooSmall_IsRejected()
    {
        var m = HandBuiltResponses.CreateWithContexts();
        m[HandBuiltResponses.CreateChainOffset] = 8; // Next = 8 would overlap the header it came from
        Assert.Throws<SmbProtocolException>(() => CreateResponse.Parse(m));
    }

    [Fact]
    public void FsFullSize_And_NetworkOpen_ParseSpecLayouts()
    {
        var full = new WireTestHelpers.Le().U64(1000).U64(400).U64(500).U32(8).U32(512).ToArray();
        var f = FileFsFullSizeInformation.Parse(full);
        Assert.Equal(1000, f.TotalAllocationUnits);
        Assert.Equal(400, f.CallerAvailableAllocationUnits);
        Assert.Equal(500, f.ActualAvailableAllocationUnits);
        Assert.Equal(4096, f.BytesPerAllocationUnit);

        var open = new WireTestHelpers.Le().U64(1).U64(2).U64(3).U64(4).U64(8192).U64(5000).U32(0x20).U32(0).ToArray();
        var n = FileNetworkOpenInformation.Parse(open);
        Assert.Equal(3ul, n.LastWriteTime);
        Assert.Equal(8192, n.AllocationSize);
        Assert.Equal(5000, n.EndOfFile);
        Assert.Equal(FileAttributes.Archive, n.FileAttributes);

        var standard = new WireTestHelpers.Le().U64(4096).U64(10).U32(1).U8(1).U8(1).U16(0).ToArray();
        var s = FileStandardInformation.Parse(standard);
        Assert.True(s.DeletePending);
        Assert.True(s.Directory);
        Assert.Equal(1u, s.NumberOfLinks);

        Assert.Throws<SmbProtocolException>(() => FileFsFullSizeInformation.Parse(full.AsSpan(0, 31)));
        Assert.Throws<SmbProtocolException>(() => FileNetworkOpenInformation.Parse(open.AsSpan(0, 55)));
    }
}
